"""Company pages: the company list with search, and each company's contacts."""
