# One provider, Google Cloud: it has all four managed pieces the manifests
# expect (GKE, Cloud SQL for PostgreSQL, Memorystore for Redis, Cloud
# Storage) behind one API, one identity model and private networking
# between them, and KEDA's Redis scaler reaches Memorystore over the VPC.
terraform {
  required_version = ">= 1.6"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
