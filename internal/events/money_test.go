package events

import "testing"

func TestMinorUnit(t *testing.T) {
	tests := []struct {
		code    string
		want    int32
		wantErr bool
	}{
		{"USD", 2, false},
		{"EUR", 2, false},
		{"GBP", 2, false},
		{"JPY", 0, false},
		{"KRW", 0, false},
		{"KWD", 3, false},
		{"BHD", 3, false},
		{"usd", 0, true},
		{"Usd", 0, true},
		{"XYZ", 0, true},
		{"US", 0, true},
		{"USDD", 0, true},
		{"", 0, true},
		{" USD", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			got, err := MinorUnit(tt.code)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("MinorUnit(%q) = %d, want an error", tt.code, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MinorUnit(%q) = %d, %v; want %d", tt.code, got, err, tt.want)
			}
		})
	}
}
