"""The utility operations view (`/ops/`, issue 7): live figures for staff; the queries are in
pevportal/operations.py."""
