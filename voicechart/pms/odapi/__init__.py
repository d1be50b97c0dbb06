"""Open Dental REST API: the wire format, the HTTP client and the connector."""
