<%@ page contentType="text/plain" %>ok webapp-top
