package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// A server for a predictor, answering one image posted as the raw body.
func ExampleServer_Serve() {
	s, err := New(testP, Options{ // testP: a predictor.Predictor on a three-class model
		MaxBodyBytes: 20 << 20, QueueSize: 64, RequestTimeout: 10 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	url := "http://" + ln.Addr().String()
	for !s.Ready() { // until Serve has started the model worker
		if resp, err := http.Get(url + "/readyz"); err == nil {
			resp.Body.Close()
		}
	}

	img, err := os.Open("../../.native/photos/dog.jpg")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer img.Close()
	resp, err := http.Post(url+"/v1/predict", "image/jpeg", img)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var answer struct {
		ModelVersion string `json:"model_version"`
		Results      []struct {
			Probabilities map[string]float64 `json:"probabilities"`
			Thresholds    map[string]float64 `json:"thresholds"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, len(answer.ModelVersion), len(answer.Results))
	fmt.Println(answer.Results[0].Thresholds)

	stop()
	fmt.Println(<-done)
	// Output:
	// 200 12 1
	// map[animal:0.3 outdoor:0.5 person:0.7]
	// <nil>
}
