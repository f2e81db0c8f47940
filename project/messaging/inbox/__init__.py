"""The consuming side: apply a delivery once through the inbox, retry transient faults, dead-letter the rest."""
