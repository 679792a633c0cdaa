// Package eureka is Tianshu's Eureka backend: a registry.Registry over the REST API of
// Netflix Eureka servers, as Spring Cloud Netflix runs them, written here on net/http.
package eureka
