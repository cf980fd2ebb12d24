package ops

// AuditPageRows lets tests make queryAudit page on a small audit log.
var AuditPageRows = &auditPageRows
