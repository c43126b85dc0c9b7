package messaging

// Unexported parts of the package that its external tests (package messaging_test) check.

// CloudEvents header names of a record (see ToRecord).
const (
	HdrID   = hdrID
	HdrType = hdrType
)

// PruneInboxSQL is the statement PruneInbox runs per batch.
const PruneInboxSQL = pruneInboxSQL

// DLQHeaders are the headers a consumer adds to a record it dead-letters.
var DLQHeaders = dlqHeaders

// RefusedForGood reports whether a produce error refuses the record for good (see refusals).
var RefusedForGood = refusedForGood
