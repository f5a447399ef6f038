package clickpesa_test

import (
	"fmt"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
)

func ExampleChecksum() {
	payload := []byte(`{"phoneNumber":"255712345678","orderReference":"ORD20240810001","currency":"TZS","amount":"1000"}`)
	sum, err := clickpesa.Checksum(clickpesa.MethodCanonical, []byte("secret-key"), payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(sum)
	// Output: 7c87a5e58179bacc6883ab775be2e00da6f142a10f6fcca9bb06697d88a5e3d7
}

func ExampleVerifyChecksum() {
	body := []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"X1","status":"SUCCESS"}}`)
	sum, _ := clickpesa.Checksum(clickpesa.MethodCanonical, []byte("secret-key"), body)
	signed := []byte(`{"event":"PAYMENT RECEIVED","data":{"id":"X1","status":"SUCCESS"},"checksum":"` + sum + `"}`)
	fmt.Println(clickpesa.VerifyChecksum(signed, []byte("secret-key")))
	fmt.Println(clickpesa.VerifyChecksum(signed, []byte("wrong-key")) != nil)
	// Output:
	// <nil>
	// true
}
