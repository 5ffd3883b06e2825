"""Query specs, their single Athena-dialect plan, and the SQL guard. Pure: no AWS, no engine."""
