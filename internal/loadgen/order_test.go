package loadgen

import (
	"encoding/json"
	"testing"
)

func TestRandomOrdersMeetContract(t *testing.T) {
	for _, skus := range []int{1, 2, 20} {
		for range 500 {
			body, err := json.Marshal(randomOrder(skus))
			if err != nil {
				t.Fatal(err)
			}
			if err := validateCreateBody(body, skus); err != nil {
				t.Fatalf("skus=%d: %v: %s", skus, err, body)
			}
		}
	}
}
