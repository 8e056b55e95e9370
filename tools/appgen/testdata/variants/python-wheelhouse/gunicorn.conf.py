bind = "0.0.0.0:8001"
workers = 4
