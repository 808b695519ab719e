# The network everything private talks over.
resource "google_compute_network" "main" {
  name                    = var.name
  auto_create_subnetworks = false
}

# Nothing comes in from outside the network but through the load balancer
# GKE creates for the Ingress (it manages its own rules); deny the rest.
resource "google_compute_firewall" "deny_ingress" {
  name      = "${var.name}-deny-ingress"
  network   = google_compute_network.main.id
  direction = "INGRESS"
  priority  = 65534

  deny {
    protocol = "all"
  }

  source_ranges = ["0.0.0.0/0"]
}

resource "google_compute_subnetwork" "main" {
  name                     = var.name
  network                  = google_compute_network.main.id
  ip_cidr_range            = "10.10.0.0/20"
  private_ip_google_access = true

  log_config {
    aggregation_interval = "INTERVAL_10_MIN"
    flow_sampling        = 0.5
    metadata             = "INCLUDE_ALL_METADATA"
  }
}

# Cloud SQL reaches the VPC through private services access.
resource "google_compute_global_address" "services" {
  name          = "${var.name}-services"
  purpose       = "VPC_PEERING"
  address_type  = "INTERNAL"
  prefix_length = 16
  network       = google_compute_network.main.id
}

resource "google_service_networking_connection" "services" {
  network                 = google_compute_network.main.id
  service                 = "servicenetworking.googleapis.com"
  reserved_peering_ranges = [google_compute_global_address.services.name]
}

# --- Kubernetes: GKE Autopilot, so nodes are Google's to size and patch ----

resource "google_container_cluster" "main" {
  # checkov:skip=CKV_GCP_12: Autopilot runs GKE Dataplane V2, which enforces NetworkPolicy without this flag.
  # checkov:skip=CKV_GCP_61: Autopilot turns intranode visibility on and does not accept the setting.
  # checkov:skip=CKV_GCP_69: Autopilot always runs the GKE metadata server (Workload Identity).
  # checkov:skip=CKV_GCP_65: RBAC through Google Groups needs a Workspace domain this module cannot assume.
  name             = var.name
  location         = var.region
  enable_autopilot = true
  network          = google_compute_network.main.id
  subnetwork       = google_compute_subnetwork.main.id

  resource_labels = {
    app = var.name
  }

  # VPC-native (alias IP) ranges, chosen by GKE.
  ip_allocation_policy {}

  release_channel {
    channel = "REGULAR"
  }

  master_auth {
    client_certificate_config {
      issue_client_certificate = false
    }
  }

  master_authorized_networks_config {
    cidr_blocks {
      cidr_block   = var.admin_cidr
      display_name = "operators"
    }
  }

  binary_authorization {
    evaluation_mode = "PROJECT_SINGLETON_POLICY_ENFORCE"
  }

  private_cluster_config {
    enable_private_nodes    = true
    enable_private_endpoint = false
    master_ipv4_cidr_block  = "172.16.0.0/28"
  }

  deletion_protection = true
}

# --- PostgreSQL: the source of truth ------------------------------------------

resource "google_sql_database_instance" "main" {
  # checkov:skip=CKV_GCP_6: ssl_mode ENCRYPTED_ONLY is how provider 6 requires TLS (require_ssl is gone).
  # checkov:skip=CKV_GCP_79: PostgreSQL 15 is what the tests and benchmarks run on; upgrade them together.
  # checkov:skip=CKV_GCP_57: statements slower than 250 ms are logged on purpose: the feed build is database-bound.
  # checkov:skip=CKV2_GCP_13: log_duration on every statement would log each of ~50 feed queries a second per worker.
  name             = var.name
  database_version = "POSTGRES_15"
  region           = var.region

  settings {
    tier              = var.db_tier
    availability_type = "REGIONAL"

    ip_configuration {
      ipv4_enabled    = false
      private_network = google_compute_network.main.id
      ssl_mode        = "ENCRYPTED_ONLY"
    }

    backup_configuration {
      enabled                        = true
      point_in_time_recovery_enabled = true
    }

    database_flags {
      name  = "log_min_duration_statement"
      value = "250"
    }
    database_flags {
      name  = "log_checkpoints"
      value = "on"
    }
    database_flags {
      name  = "log_connections"
      value = "on"
    }
    database_flags {
      name  = "log_disconnections"
      value = "on"
    }
    database_flags {
      name  = "log_lock_waits"
      value = "on"
    }
    database_flags {
      name  = "log_hostname"
      value = "on"
    }
    database_flags {
      name  = "log_min_messages"
      value = "error"
    }
    database_flags {
      name  = "log_min_error_statement"
      value = "error"
    }
    database_flags {
      name  = "log_statement"
      value = "ddl"
    }
    database_flags {
      name  = "cloudsql.enable_pgaudit"
      value = "on"
    }
    database_flags {
      name  = "pgaudit.log"
      value = "ddl,role"
    }
  }

  deletion_protection = true
  depends_on          = [google_service_networking_connection.services]
}

resource "google_sql_database" "app" {
  name     = "ranked_feed"
  instance = google_sql_database_instance.main.name
}

# --- Redis: caches, ranked lists and the Celery broker (derived data only) ---

resource "google_redis_instance" "main" {
  name                    = var.name
  tier                    = "STANDARD_HA"
  memory_size_gb          = var.redis_memory_gb
  region                  = var.region
  redis_version           = "REDIS_7_2"
  authorized_network      = google_compute_network.main.id
  connect_mode            = "PRIVATE_SERVICE_ACCESS"
  auth_enabled            = true
  transit_encryption_mode = "SERVER_AUTHENTICATION"
  # Celery's queues must not be evicted to make room for cache entries.
  redis_configs = {
    maxmemory-policy = "noeviction"
  }
  depends_on = [google_service_networking_connection.services]
}

# --- Object storage: model artifacts and media --------------------------------

resource "google_storage_bucket" "artifacts" {
  # checkov:skip=CKV_GCP_62: access logs need a second bucket; Cloud Audit Logs record data access instead.
  name                        = "${var.project_id}-${var.name}-artifacts"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  versioning {
    enabled = true
  }
}
