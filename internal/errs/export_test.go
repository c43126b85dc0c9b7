package errs

import "errors"

// CodeOf is the code of the first *Error in err's chain: "" for nil, EINTERNAL when there is none.
// Only the tests ask this; httpx.ProblemFor reads the chain itself.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}
