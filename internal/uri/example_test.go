package uri_test

import (
	"fmt"

	"github.com/trust-agent/trust-agent/internal/uri"
)

func ExampleParse() {
	u, err := uri.Parse("pkcs11:token=dct;id=%01%02;object=dct:root::?pin-source=file:/run/user/1000/dct-pin")
	if err != nil {
		panic(err)
	}
	fmt.Println(u.Token, u.ID, u.Object, u.PINSource)
	_, err = uri.Parse("pkcs11:token=dct?pin-value=1234")
	fmt.Println(err != nil)
	// Output:
	// dct [1 2] dct:root:: /run/user/1000/dct-pin
	// true
}

func ExampleURI_String() {
	u := uri.URI{Token: "dct", ID: []byte{1, 2}, Object: "dct:targets::docker.io/library/alpine", PINSource: "/run/pin"}
	fmt.Println(u) // for display: never the pin-source
	// Output: pkcs11:token=dct;id=%01%02;object=dct:targets::docker.io%2Flibrary%2Falpine
}
