"""Where inbound rows go: SQL tables and CSV files (webhook events, responses kept).

May import what ``connectors`` may; not the other connector packages.
"""
