const express = require("express");
const app = express();
app.get("/", (req, res) => res.send("ok node-express\n"));
app.listen(4000);
