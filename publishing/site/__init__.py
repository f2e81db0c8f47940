"""The public HTML site of publishing: server-rendered pages over publishing's selectors."""
