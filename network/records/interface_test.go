package records_test

import (
	"github.com/cairn-storage/cairn/network/records"
	"github.com/cairn-storage/cairn/storage/drive"
)

// The drive's record layer is this package's Client (drive is not
// imported outside tests: the network does not depend on the drive).
var _ drive.Records = (*records.Client)(nil)

// drive.InboxMessage and Message have the same fields, so the wiring
// converts one into the other.
var _ = drive.InboxMessage(records.Message{})
