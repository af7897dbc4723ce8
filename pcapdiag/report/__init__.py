"""report/: render a Report as text (tabulate), JSON (the contract) or CSV (one table, via pandas)."""
