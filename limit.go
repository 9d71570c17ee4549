package vise

// List requests return at most MaxListLimit items; without a limit they
// return DefaultListLimit.
const (
	DefaultListLimit = 100
	MaxListLimit     = 10000
)

// CheckLimit refuses a list limit outside 1..MaxListLimit, rather than
// quietly returning fewer items than asked for.
func CheckLimit(limit int) error {
	if limit < 1 || limit > MaxListLimit {
		return Errorf(CodeInvalid, "limit %d is out of range: use 1 to %d", limit, MaxListLimit)
	}
	return nil
}
