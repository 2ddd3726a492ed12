"""What the appliance says and shows: ticket layout, wall display lines, announcement phrases."""
