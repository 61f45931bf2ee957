"""The store: database connection, tables (models), migrations and the audit trail."""
