package vise

// List requests return at most MaxListLimit items; without a limit they
// return DefaultListLimit.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000

	// MaxResultsPageBytes bounds the stored payload one page of results
	// holds: a page ends after the result that reaches it, however many
	// were asked for, so devices sending the largest results they may
	// cannot make one listing load gigabytes. A page always holds at
	// least one result.
	MaxResultsPageBytes = 16 << 20
)

// CheckLimit refuses a list limit outside 1..MaxListLimit, rather than
// quietly returning fewer items than asked for.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxListLimit {
		return Errorf(CodeInvalid, "limit %d is out of range: use 1 to %d", limit, MaxListLimit)
	}
	return nil
}
