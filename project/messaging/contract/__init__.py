"""The contract: messages and their envelope, the errors, the context a message is handled in, and
the wire format of a delivery. Both sides of the layer build on it; it imports none of them."""
