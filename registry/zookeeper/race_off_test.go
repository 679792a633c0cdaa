//go:build !race

package zookeeper_test

const raceDetector = false
