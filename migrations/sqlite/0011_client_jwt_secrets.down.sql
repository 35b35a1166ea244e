DROP TABLE client_jwt_secrets;
