"""Government bodies (issue 14, item 1): loading them from a CSV (`imports`), listing them
(`queries`) and resolving the names plans use to them (`resolve`)."""
