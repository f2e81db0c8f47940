-- A database and a role per domain (docker-compose.yml mounts this into the postgres image's
-- /docker-entrypoint-initdb.d/: it runs once, as the superuser, on an empty data volume).
-- Each role owns its database (so it can migrate it) and is the only one that may connect to it:
-- a domain's processes, holding its role's URL only, cannot reach another domain's rows.
-- users shares its database with Django's own apps (it owns the auth user): shop_users is the
-- DATABASE_URL of web, migrate, Flower and the users domain. The passwords are the demo's.
\set ON_ERROR_STOP on
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', name, name), format('CREATE DATABASE %I OWNER %I', name, name),
       format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', name)
FROM unnest(ARRAY['shop_users', 'shop_orders', 'shop_inventory', 'shop_notifications', 'shop_articles',
                  'shop_publishing']) AS name
\gexec
