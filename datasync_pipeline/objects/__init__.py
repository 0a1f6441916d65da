"""What datasync knows about each HubSpot object: identity, default field mappings, associations."""
