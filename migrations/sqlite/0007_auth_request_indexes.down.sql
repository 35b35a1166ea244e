CREATE INDEX auth_requests_client_id ON auth_requests (client_id);
CREATE INDEX auth_requests_user_id ON auth_requests (user_id);
