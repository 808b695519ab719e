output "cluster_name" {
  value = google_container_cluster.main.name
}

output "database_private_ip" {
  description = "Host of DATABASE_URL (user and password are set outside Terraform state)."
  value       = google_sql_database_instance.main.private_ip_address
}

output "redis_host" {
  description = "Host of REDIS_URL and CELERY_BROKER_URL (rediss://, port redis_port), and of KEDA's BROKER_REDIS_ADDRESS."
  value       = google_redis_instance.main.host
}

output "redis_port" {
  value = google_redis_instance.main.port
}

output "artifacts_bucket" {
  value = google_storage_bucket.artifacts.name
}
