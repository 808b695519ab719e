variable "project_id" {
  description = "The Google Cloud project to create everything in."
  type        = string
}

variable "region" {
  description = "Region of the cluster, database, Redis and bucket."
  type        = string
  default     = "europe-west1"
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "ranked-feed"
}

variable "db_tier" {
  description = "Cloud SQL machine tier. The feed build's time is mostly PostgreSQL's (README): size this first."
  type        = string
  default     = "db-custom-2-7680"
}

variable "redis_memory_gb" {
  description = "Memorystore size: ranked lists (500 ids a user) and the Celery queues."
  type        = number
  default     = 5
}

variable "admin_cidr" {
  description = "The only network that may reach the cluster's control plane (operators' VPN)."
  type        = string
}
