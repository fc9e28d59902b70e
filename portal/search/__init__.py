"""Search: finding contacts by name, title, company and filters, typo-tolerant."""
