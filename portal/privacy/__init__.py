"""The privacy center: what the people listed can see, correct and remove,
the notices they are owed, bulk suppression, and members' consent choices."""
