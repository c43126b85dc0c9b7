package httpx

// The defaults of the list operations' page and size parameters (see the spec's Page and Size):
// the validator has already checked that what was sent is within their bounds.
const (
	DefaultPage = 1
	DefaultSize = 20
)

// Paging is the page and size a list request asks for, the defaults where it sent none.
func Paging(page, size *int) (int, int) {
	p, s := DefaultPage, DefaultSize
	if page != nil {
		p = *page
	}
	if size != nil {
		s = *size
	}
	return p, s
}
