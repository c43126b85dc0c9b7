package console

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

func (c *Console) inventoryPage(w http.ResponseWriter, r *http.Request) {
	c.render(w, http.StatusOK, "inventory-page", page{Title: "Inventory", Nav: "inventory", Fragment: "/ui/fragments/inventory"})
}

type inventoryView struct {
	Stock    []stockLevel
	Flash    string
	FlashErr bool
	// SKU and Available refill the form after a change.
	SKU, Available string
}

func (c *Console) inventoryFragment(w http.ResponseWriter, r *http.Request) {
	stock, err := c.session(r).stock()
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	c.render(w, http.StatusOK, "inventory", inventoryView{Stock: stock})
}

// stock is every SKU's level, read a page at a time.
func (s *session) stock() ([]stockLevel, error) {
	return allPages[stockLevel]("/api/v1/inventory", func(path string, out any) error {
		return s.get(svcInventory, path, out)
	})
}

// quantity is what a stock level may be: the API refuses more than 3 fraction digits itself,
// this only keeps the JSON a number.
var quantity = regexp.MustCompile(`^[0-9]{1,15}(\.[0-9]{1,6})?$`)

// setStock sets a SKU's available stock (PUT /api/v1/inventory/{sku}) and shows the stock now.
func (c *Console) setStock(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		c.render(w, http.StatusBadRequest, "error", err.Error())
		return
	}
	sku := strings.TrimSpace(r.PostForm.Get("sku"))
	available := strings.TrimSpace(r.PostForm.Get("available"))
	if sku == "" || !quantity.MatchString(available) {
		w.Header().Set("HX-Retarget", targetFlash)
		w.Header().Set("HX-Reswap", "innerHTML")
		c.render(w, http.StatusBadRequest, "error", "Give a SKU and its available stock: a number, at least 0, with at most 3 decimals.")
		return
	}
	s := c.session(r)
	var now stockLevel
	body := map[string]json.Number{"available": json.Number(available)}
	if err := s.send(http.MethodPut, svcInventory, "/api/v1/inventory/"+url.PathEscape(sku), body, nil, &now); err != nil {
		c.fail(w, r, err, true)
		return
	}
	stock, err := s.stock()
	if err != nil {
		c.fail(w, r, err, true)
		return
	}
	c.render(w, http.StatusOK, "inventory", inventoryView{Stock: stock, SKU: now.SKU, Available: now.Available.String(),
		Flash: now.SKU + ": available " + now.Available.String() + ", reserved " + now.Reserved.String() + "."})
}
