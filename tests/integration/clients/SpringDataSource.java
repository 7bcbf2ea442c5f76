// The PostgreSQL JDBC driver, configured the way Spring Boot's DataSource is:
// SPRING_DATASOURCE_URL, SPRING_DATASOURCE_USERNAME, SPRING_DATASOURCE_PASSWORD.
// Prints current_user.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;

public class SpringDataSource {
    public static void main(String[] args) throws Exception {
        try (Connection conn = DriverManager.getConnection(
                System.getenv("SPRING_DATASOURCE_URL"),
                System.getenv("SPRING_DATASOURCE_USERNAME"),
                System.getenv("SPRING_DATASOURCE_PASSWORD"));
             ResultSet rows = conn.createStatement().executeQuery("select current_user")) {
            rows.next();
            System.out.println(rows.getString(1));
        }
    }
}
