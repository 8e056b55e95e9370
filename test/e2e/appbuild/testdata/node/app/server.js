const http = require("http");
http.createServer((req, res) => res.end("node ok " + process.env.NODE_ENV + "\n")).listen(Number(process.env.PORT));
