"""The appliance process: boot stages and the supervisory loop."""
