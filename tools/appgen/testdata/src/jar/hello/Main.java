package hello;

import com.sun.net.httpserver.HttpServer;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Properties;

// A plain executable jar: reads config.properties from its working directory
// and answers every request with the body it names.
public class Main {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        try (InputStream in = new FileInputStream("config.properties")) {
            p.load(in);
        }
        int port = Integer.parseInt(p.getProperty("http.port", "8080"));
        byte[] body = (p.getProperty("body", "ok jar") + "\n").getBytes(StandardCharsets.UTF_8);
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
