"""Risk: rules and lists (data), screening of charges and attaches, the review queue."""
