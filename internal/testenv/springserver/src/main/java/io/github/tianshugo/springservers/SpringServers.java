package io.github.tianshugo.springservers;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.cloud.config.server.EnableConfigServer;
import org.springframework.cloud.netflix.eureka.server.EnableEurekaServer;

/**
 * A Eureka server and a Config Server in one JVM for Tianshu's tests; the settings that make
 * them quick to observe are in application.properties.
 */
@SpringBootApplication
@EnableEurekaServer
@EnableConfigServer
public class SpringServers {
	public static void main(String[] args) {
		SpringApplication.run(SpringServers.class, args);
	}
}
