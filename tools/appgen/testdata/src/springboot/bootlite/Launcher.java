package bootlite;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.jar.JarFile;

// The part of Spring Boot's JarLauncher this hand-made jar needs: run the
// manifest's Start-Class from BOOT-INF/classes/ inside the jar.
public class Launcher {
    public static void main(String[] args) throws Exception {
        URL jar = Launcher.class.getProtectionDomain().getCodeSource().getLocation();
        String start;
        try (JarFile jf = new JarFile(new File(jar.toURI()))) {
            start = jf.getManifest().getMainAttributes().getValue("Start-Class");
        }
        URL classes = new URL("jar:" + jar + "!/BOOT-INF/classes/");
        ClassLoader cl = new URLClassLoader(new URL[] {classes}, Launcher.class.getClassLoader());
        Thread.currentThread().setContextClassLoader(cl);
        cl.loadClass(start).getMethod("main", String[].class).invoke(null, (Object) args);
    }
}
