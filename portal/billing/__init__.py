"""Paying instead of contributing (SPEC section 3, "Pay-instead").

- ``plans``: Free, Pro (a configured monthly allowance for each seat) and
  Enterprise (an allowance set per organisation); who holds a seat.
- ``allowances``: the scheduled monthly grant, once per member per month.
- ``invoices``: manual invoices to a member or an organisation, their numbers
  and their legal state changes; paying one credits its points once.
- ``expiry``: purchased points as lots that expire; the scheduled expiry.
- ``providers``: the payment-provider boundary and its manual implementation.
- ``routes``/``forms``: the admin pages under ``/admin``.

Who receives an organisation's purchased points: the organisation bought them
for its team, so they are shared equally among its seat holders (the members
who also receive the plan allowance: its active members, oldest accounts
first, up to the number of seats). Points that do not divide evenly go one
each to the earliest seat holders, so the members together receive exactly
what the invoice says. Each share is a purchase lot of its own with the same
expiry date.
"""
