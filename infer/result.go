package infer

import "github.com/vise-edge/vise/deviceapi"

// The result schema lives in deviceapi, the device contract; these names
// stay so the inference code reads as before.

// Schema is the version of Result's JSON form.
const Schema = deviceapi.ResultSchema

type (
	// Result is the message a device publishes for each image.
	Result = deviceapi.Result
	// ModelRef names the model that produced a result.
	ModelRef = deviceapi.ModelRef
	// ImageRef describes the inspected image.
	ImageRef = deviceapi.ImageRef
	// Latency splits the time spent on one image, in milliseconds.
	Latency = deviceapi.Latency
	// Detection is one found object.
	Detection = deviceapi.Detection
	// Box is in original image pixels, X/Y the top-left corner.
	Box = deviceapi.Box
)
