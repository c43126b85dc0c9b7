package console

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// orderFilter is what the Orders page shows: its query string, as the filter form sends it.
type orderFilter struct {
	Status, Customer string
	// Age: created at least this long ago (a duration: 15m, 2h, 1d); the API's createdBefore.
	Age string
	// CreatedBefore is the API's parameter itself, for a link that names an instant.
	CreatedBefore string
	// Stuck: non-terminal orders past their step's deadline, or older than OlderThan.
	Stuck     bool
	OlderThan string
	Page      int
	Size      int
}

func parseOrderFilter(q url.Values) orderFilter {
	f := orderFilter{
		Status:        q.Get("status"),
		Customer:      strings.TrimSpace(q.Get("customerId")),
		Age:           strings.TrimSpace(q.Get("age")),
		CreatedBefore: q.Get("createdBefore"),
		Stuck:         q.Get("stuck") == "true",
		OlderThan:     strings.TrimSpace(q.Get("olderThan")),
	}
	f.Page, _ = strconv.Atoi(q.Get("page"))
	f.Size, _ = strconv.Atoi(q.Get("size"))
	f.Page = max(f.Page, 1)
	if f.Size < 1 || f.Size > 100 {
		f.Size = 20
	}
	return f
}

// query is f as the console's own query string.
func (f orderFilter) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("status", f.Status)
	set("customerId", f.Customer)
	set("age", f.Age)
	set("createdBefore", f.CreatedBefore)
	if f.Stuck {
		q.Set("stuck", "true")
	}
	set("olderThan", f.OlderThan)
	if f.Page > 1 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	if f.Size != 20 {
		q.Set("size", strconv.Itoa(f.Size))
	}
	return q
}

// apiQuery is f as GET /api/v1/orders takes it: the age becomes an instant.
func (f orderFilter) apiQuery() (url.Values, error) {
	q := f.query()
	q.Del("age")
	if f.Age != "" {
		age, err := parseAge(f.Age)
		if err != nil {
			return nil, err
		}
		q.Set("createdBefore", now().Add(-age).UTC().Format(time.RFC3339Nano))
	}
	q.Set("page", strconv.Itoa(f.Page))
	q.Set("size", strconv.Itoa(f.Size))
	return q, nil
}

// parseAge reads a Go duration, or a number of days ("2d"), which Go's durations lack.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 {
			return time.Duration(n * float64(24*time.Hour)), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("age %q: want a duration such as 15m, 2h or 1d", s)
	}
	return d, nil
}

func (c *Console) ordersPage(w http.ResponseWriter, r *http.Request) {
	f := parseOrderFilter(r.URL.Query())
	p := page{Title: "Orders", Nav: "orders", Data: f}
	if f.Stuck {
		p.Title, p.Nav = "Stuck orders", "stuck"
	}
	p.Fragment = "/ui/fragments/orders?" + f.query().Encode()
	c.render(w, http.StatusOK, "orders-page", p)
}

// statusCount is one status's number of orders, for the counts at the top.
type statusCount struct {
	Status string
	N      int64
}

type ordersView struct {
	Filter    orderFilter
	Counts    []statusCount
	CountsErr string
	Orders    []orderSummary
	Total     int64
	Pages     int
	Prev      string // URL of the previous page, if any
	Next      string
}

// ordersFragment is the counts per status and a page of orders.
func (c *Console) ordersFragment(w http.ResponseWriter, r *http.Request) {
	f := parseOrderFilter(r.URL.Query())
	q, err := f.apiQuery()
	if err != nil {
		c.render(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	s := c.session(r)
	var (
		pg               orderPage
		counts           orderCounts
		listErr, cntsErr error
		wg               sync.WaitGroup
	)
	wg.Go(func() { listErr = s.get(svcOrder, "/api/v1/orders?"+q.Encode(), &pg) })
	wg.Go(func() { cntsErr = s.get(svcOrder, "/api/v1/orders/counts", &counts) })
	wg.Wait()
	for _, err := range []error{listErr, cntsErr} {
		if _, ok := refused(err); ok {
			c.fail(w, r, err, false)
			return
		}
	}
	if listErr != nil {
		c.fail(w, r, listErr, false)
		return
	}
	v := ordersView{Filter: f, Orders: pg.Items, Total: pg.Total}
	v.Counts, v.CountsErr = countsView(counts, cntsErr)
	v.Pages = int((pg.Total + int64(f.Size) - 1) / int64(f.Size))
	link := func(n int) string {
		g := f
		g.Page = n
		return "/ui/orders?" + g.query().Encode()
	}
	if f.Page > 1 {
		v.Prev = link(f.Page - 1)
	}
	if f.Page < v.Pages {
		v.Next = link(f.Page + 1)
	}
	c.render(w, http.StatusOK, "orders", v)
}

// countsView orders the counts per status as the saga goes; err is why there are none.
func countsView(counts orderCounts, err error) ([]statusCount, string) {
	if err != nil {
		return nil, "Counts unavailable: " + err.Error()
	}
	var out []statusCount
	for _, s := range statuses {
		out = append(out, statusCount{s, counts.Counts[s]})
	}
	for s, n := range counts.Counts { // any status this console does not know yet
		if !slices.Contains(statuses, s) {
			out = append(out, statusCount{s, n})
		}
	}
	return out, ""
}

func (c *Console) orderPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		c.notFoundPage(w, r)
		return
	}
	c.render(w, http.StatusOK, "order-page", page{Title: "Order " + id, Nav: "orders", Fragment: "/ui/fragments/orders/" + id})
}

// orderView is one order and what each service did about it. A service that could not be read
// leaves its section with the reason instead.
type orderView struct {
	Order                                      order
	Terminal                                   bool
	Payments                                   []payment
	Reservations                               []reservation
	Shipments                                  []shipment
	Notifications                              []notification
	PaymentsErr, ShipmentsErr, NotificationErr string
	ReservationsErr                            string
	Flash                                      string
	FlashErr                                   bool
}

func (c *Console) orderFragment(w http.ResponseWriter, r *http.Request) {
	v, err := c.loadOrder(c.session(r), r.PathValue("id"))
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, http.StatusOK, "order", v)
}

// loadOrder reads the order and, at the same time, its payments, reservation, shipments and
// notifications. A refusal of any of them is the error: the caller sees the login prompt, nothing
// else; but reservations are an admin's only, and a customer's token refused them is shown so in
// their section.
func (c *Console) loadOrder(s *session, id string) (orderView, error) {
	if _, err := uuid.Parse(id); err != nil {
		return orderView{}, &apiError{Service: svcOrder, Status: http.StatusNotFound, Problem: problem{Title: "No such order"}}
	}
	var (
		v                          orderView
		pays                       list[payment]
		ships                      list[shipment]
		notes                      list[notification]
		res                        list[reservation]
		orderErr, pErr, sErr, nErr error
		rErr                       error
		wg                         sync.WaitGroup
	)
	q := "?orderId=" + url.QueryEscape(id)
	wg.Go(func() { orderErr = s.get(svcOrder, "/api/v1/orders/"+id, &v.Order) })
	wg.Go(func() { pErr = s.get(svcPayment, "/api/v1/payments"+q, &pays) })
	wg.Go(func() { sErr = s.get(svcFulfillment, "/api/v1/shipments"+q, &ships) })
	wg.Go(func() { nErr = s.get(svcNotification, "/api/v1/notifications"+q, &notes) })
	wg.Go(func() { rErr = s.get(svcInventory, "/api/v1/reservations"+q, &res) })
	wg.Wait()
	for _, err := range []error{orderErr, pErr, sErr, nErr} {
		if _, ok := refused(err); ok {
			return orderView{}, err
		}
	}
	if orderErr != nil {
		return orderView{}, orderErr
	}
	v.Terminal = terminal(v.Order.Status)
	v.Payments, v.PaymentsErr = pays.Items, errText(pErr)
	v.Shipments, v.ShipmentsErr = ships.Items, errText(sErr)
	v.Reservations, v.ReservationsErr = res.Items, errText(rErr)
	v.Notifications, v.NotificationErr = notes.Items, errText(nErr)
	return v, nil
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// cancelOrder asks the API to cancel (a fresh Idempotency-Key: each click is a new request) and
// shows the order as it is now.
func (c *Console) cancelOrder(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := uuid.Parse(id); err != nil {
		c.fail(w, r, &apiError{Service: svcOrder, Status: http.StatusNotFound, Problem: problem{Title: "No such order"}}, true)
		return
	}
	s := c.session(r)
	var accepted cancelAccepted
	err := s.send(http.MethodPost, svcOrder, "/api/v1/orders/"+id+"/cancel", nil,
		http.Header{"Idempotency-Key": {uuid.NewString()}}, &accepted)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	v, err := c.loadOrder(s, id)
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	v.Flash = "Cancel accepted (" + accepted.Status + "): what was done is being undone; the timeline shows how it ends."
	c.render(w, http.StatusOK, "order", v)
}
