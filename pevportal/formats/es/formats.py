"""US Spanish numbers: amounts keep the decimal point and thousands comma ($1,234.56, 12.5 kWh), as Spanish
bills of US utilities print them; Django's `es` formats would print "$1.234,56". Dates stay Spanish."""

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
