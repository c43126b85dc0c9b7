package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// process is one ordersys process the console talks to: a distinct base URL, and the services
// the console was told it runs.
type process struct {
	URL      string
	Services []string
}

// processes are the distinct processes behind s's service URLs, the order service's first.
func (s *session) processes() []process {
	var out []process
	for _, svc := range serviceNames {
		u := s.urls[svc]
		if i := slices.IndexFunc(out, func(p process) bool { return p.URL == u }); i >= 0 {
			out[i].Services = append(out[i].Services, svc)
			continue
		}
		out = append(out, process{URL: u, Services: []string{svc}})
	}
	return out
}

func (c *Console) dlqPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "dlq-page", page{Title: "Dead letters", Nav: "dlq", Fragment: "/ui/fragments/dlq"})
}

type dlqView struct {
	Letters []deadLetter
	// Unread names the processes whose outbox dead letters could not be read, and why.
	Unread   []string
	Flash    string
	FlashErr bool
}

func (c *Console) dlqFragment(w http.ResponseWriter, r *http.Request) {
	v, err := c.loadDeadLetters(c.session(r))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, http.StatusOK, "dlq", v)
}

// loadDeadLetters lists the dead letters: the dead-letter topics' and the order process's outbox
// ones from the order process, and the outbox dead letters of each other process, which live in
// its services' databases (the topics' would be the same records again).
func (c *Console) loadDeadLetters(s *session) (dlqView, error) {
	procs := s.processes()
	var (
		v     dlqView
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	all, err := allPages[deadLetter]("/api/v1/admin/dlq", func(path string, out any) error {
		return s.get(svcOrder, path, out)
	})
	if err != nil {
		return v, err
	}
	for _, p := range procs[1:] {
		wg.Go(func() {
			more, err := allPages[deadLetter]("/api/v1/admin/dlq?topic="+outboxDLQ, func(path string, out any) error {
				return s.sendTo(http.MethodGet, strings.Join(p.Services, ", "), p.URL, path, nil, nil, out)
			})
			mu.Lock()
			defer mu.Unlock()
			switch _, refusal := refused(err); {
			case refusal:
				first = cmp.Or(first, err)
			case notFound(err): // a process running no service has no outbox
			case err != nil:
				v.Unread = append(v.Unread, err.Error())
			default:
				all = append(all, more...)
			}
		})
	}
	wg.Wait()
	if first != nil {
		return dlqView{}, first
	}
	seen := map[string]bool{}
	for _, dl := range all {
		if !seen[dl.ID] {
			seen[dl.ID] = true
			v.Letters = append(v.Letters, dl)
		}
	}
	slices.SortStableFunc(v.Letters, func(a, b deadLetter) int { return a.DeadLetteredAt.Compare(b.DeadLetteredAt) })
	return v, nil
}

// outboxDLQ is the pseudo-topic of the outbox rows the broker refused; their ids start with it.
const outboxDLQ = "outbox.dlq"

// onLetter POSTs action (replay, discard) for the dead letter id. A letter of a dead-letter topic
// is the order process's to act on; an outbox one, its service's process, which the console finds
// by asking each in turn (the others answer 404).
func (s *session) onLetter(id, action string) error {
	path := "/api/v1/admin/dlq/" + url.PathEscape(id) + "/" + action
	procs := s.processes()
	if !strings.HasPrefix(id, outboxDLQ+":") {
		procs = procs[:1]
	}
	var err error
	for _, p := range procs {
		err = s.sendTo(http.MethodPost, strings.Join(p.Services, ", "), p.URL, path, nil, nil, nil)
		if !notFound(err) {
			return err
		}
	}
	return err
}

// replayDeadLetters replays the letters named by the form's id values: one, or a selection, one
// API call each.
func (c *Console) replayDeadLetters(w http.ResponseWriter, r *http.Request) {
	c.actOnLetters(w, r, "replay", "Replayed")
}

// discardDeadLetter discards one letter: the API records it as discarded.
func (c *Console) discardDeadLetter(w http.ResponseWriter, r *http.Request) {
	c.actOnLetters(w, r, "discard", "Discarded")
}

// maxSelection bounds the letters one request acts on: each is an API call of its own.
const maxSelection = 100

func (c *Console) actOnLetters(w http.ResponseWriter, r *http.Request, action, done string) {
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	ids := slices.Compact(slices.Sorted(slices.Values(r.PostForm["id"])))
	if len(ids) == 0 {
		w.Header().Set("HX-Retarget", targetFlash)
		w.Header().Set("HX-Reswap", "innerHTML")
		c.render(w, http.StatusBadRequest, "error", "Select at least one dead letter first.")
		return
	}
	if len(ids) > maxSelection {
		w.Header().Set("HX-Retarget", targetFlash)
		w.Header().Set("HX-Reswap", "innerHTML")
		c.render(w, http.StatusBadRequest, "error", fmt.Sprintf("Select at most %d dead letters at once.", maxSelection))
		return
	}
	if action == "discard" && len(ids) > 1 {
		ids = ids[:1] // discarding is one letter at a time, each confirmed
	}
	s := c.session(r)
	var failed []string
	for _, id := range ids {
		err := s.onLetter(id, action)
		if _, ok := refused(err); ok {
			c.fail(w, r, err, true)
			return
		}
		if err != nil {
			failed = append(failed, id+": "+err.Error())
		}
	}
	v, err := c.loadDeadLetters(s)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	n := len(ids) - len(failed)
	v.Flash = fmt.Sprintf("%s %d of %d selected.", done, n, len(ids))
	if len(failed) > 0 {
		v.Flash += " Failed: " + strings.Join(failed, "; ")
		v.FlashErr = true
	}
	c.render(w, http.StatusOK, "dlq", v)
}
