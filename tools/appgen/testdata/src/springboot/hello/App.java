package hello;

import com.sun.net.httpserver.HttpServer;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

// The Start-Class: reads server.port from application.properties on its
// class path, as a Spring Boot app does.
public class App {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (InputStream in = App.class.getResourceAsStream("/application.properties")) {
            p.load(in);
        }
        int port = Integer.parseInt(p.getProperty("server.port", "8080"));
        byte[] body = "ok springboot\n".getBytes(StandardCharsets.UTF_8);
        HttpServer s = HttpServer.create(new InetSocketAddress(port), 0);
        s.createContext("/", x -> {
            x.sendResponseHeaders(200, body.length);
            try (OutputStream o = x.getResponseBody()) {
                o.write(body);
            }
        });
        s.start();
    }
}
